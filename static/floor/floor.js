/* Clerk pages: keep the cursor in the scan field, and lose no scan while a page loads.
 *
 * A barcode scanner types its code and presses Enter, often faster than a page answers. While
 * htmx swaps a page in (the body is boosted), keys are held and typed into the new scan field
 * when it appears; an Enter that came with them submits it. A key pressed while nothing that
 * takes text has the focus goes to the scan field. */
(function () {
  "use strict";
  var busy = false;
  var held = [];  // scans that came while a page was loading, each ended by Enter
  var partial = "";  // keys of a scan whose Enter has not come yet

  function scanField() {
    return document.querySelector("[data-scan]");
  }

  function focusScan() {
    var field = scanField();
    if (field && document.activeElement !== field) {
      field.focus();
    }
  }

  // The page is in: type the first held scan into the new field and send it (the rest wait
  // for the page that answers it), or give the field the keys of an unfinished scan.
  function replay() {
    var field = scanField();
    if (!field) {
      held = [];
      partial = "";
      return;
    }
    field.focus();
    if (held.length && field.form) {
      field.value = held.shift();
      field.form.requestSubmit();
    } else if (partial) {
      field.value += partial;
      partial = "";
    }
  }

  function takesText(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  document.addEventListener("DOMContentLoaded", focusScan);
  document.addEventListener("htmx:beforeRequest", function () { busy = true; });
  document.addEventListener("htmx:afterSettle", function () { busy = false; replay(); });
  document.addEventListener("htmx:responseError", function () { busy = false; replay(); });
  document.addEventListener("htmx:sendError", function () { busy = false; replay(); });

  // On a form marked data-enter-next (sign in), Enter moves to the next field until the last.
  document.addEventListener("keydown", function (event) {
    var form = event.target && event.target.form;
    if (event.key !== "Enter" || !form || !form.hasAttribute("data-enter-next")) return;
    var fields = Array.prototype.slice.call(form.querySelectorAll("input:not([type=hidden])"));
    var index = fields.indexOf(event.target);
    if (index >= 0 && index < fields.length - 1) {
      event.preventDefault();
      fields[index + 1].focus();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (busy) {
      if (event.key.length === 1) {
        partial += event.key;
        event.preventDefault();
      } else if (event.key === "Enter") {
        if (partial) {
          held.push(partial);  // an Enter alone (a second tap) is dropped
        }
        partial = "";
        event.preventDefault();
      }
      return;
    }
    if (event.key.length === 1 && !takesText(event.target)) {
      focusScan();
    }
  }, true);
})();
