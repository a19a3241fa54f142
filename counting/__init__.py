"""Cycle counting: ABC classes, count plans and tasks, variance approval (a later issue)."""
