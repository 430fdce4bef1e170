// A refused save (409, templates/_conflict.html): "Use this value" puts the saved value of one
// field back into the form. Without this file the buttons stay hidden; the form still works.
(function () {
  "use strict";

  function reveal(root) {
    if (!root || !root.querySelectorAll) return;
    var buttons = root.querySelectorAll("[data-conflict-use][hidden]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }

  function setValue(form, name, value) {
    var element = form.elements.namedItem(name);
    if (!element) return false;
    if (element.type === "checkbox") {
      element.checked = value !== "";
    } else if (typeof RadioNodeList !== "undefined" && element instanceof RadioNodeList) {
      element.value = value;
    } else {
      element.value = value;
    }
    var target = element.length && !element.tagName ? element[0] : element;
    if (target && target.dispatchEvent) {
      target.dispatchEvent(new Event("input", {bubbles: true}));
      target.dispatchEvent(new Event("change", {bubbles: true}));
    }
    return true;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-conflict-use]");
    if (!button) return;
    var form = button.form || button.closest("form");
    if (!form) return;
    if (setValue(form, button.dataset.conflictUse, button.dataset.value || "")) {
      var row = button.closest(".conflict-row");
      if (row) row.classList.add("is-resolved");
      button.disabled = true;
    }
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:load", function (event) { reveal(event.detail.elt); });
})();
