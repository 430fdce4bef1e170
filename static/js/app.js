// Small client-side glue; everything also works without it.
(function () {
  "use strict";

  function toast(message) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.classList.remove("hidden");
    clearTimeout(el._timer);
    el._timer = setTimeout(function () { el.classList.add("hidden"); }, 5000);
  }
  window.crmToast = toast;

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 403) {
      toast(document.body.dataset.forbiddenMessage || document.body.dataset.errorMessage);
    } else {
      toast(document.body.dataset.errorMessage);
    }
  });
  document.addEventListener("htmx:sendError", function () {
    toast(document.body.dataset.errorMessage);
  });
  // Server-sent notices: HX-Trigger: {"crm:toast": "message"}
  document.addEventListener("crm:toast", function (event) {
    toast(event.detail.value || event.detail);
  });
  // Forms marked data-reset-on-success empty themselves after a successful htmx post.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (event.detail.successful && form && form.matches && form.matches("form[data-reset-on-success]")) {
      form.reset();
    }
  });
  // A "Done" link inside a <details> editor closes it in place (without JavaScript it is a
  // plain link that reloads the page, the editor closed).
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-close-details]") : null;
    if (!link) return;
    var details = link.closest("details");
    if (!details) return;
    event.preventDefault();
    details.open = false;
    var summary = details.querySelector("summary");
    if (summary) summary.focus();
  });
  // A record page's secondary sections (details.phone-section) start closed on a phone, so the
  // timeline and the next task come first; one that holds an error, an open editor or the
  // address's #anchor stays open. On a wider screen every section is open.
  var phone = window.matchMedia("(max-width: 640px)");
  function fitSections() {
    document.querySelectorAll("details.phone-section").forEach(function (section) {
      if (!phone.matches) { section.open = true; return; }
      var anchored = false;
      try { anchored = location.hash.length > 1 && !!section.querySelector(location.hash); } catch (e) { /* not a selector */ }
      var busy = section.querySelector(".field-error, [aria-invalid=true], .flash, details[open]");
      section.open = !!(anchored || busy);
    });
  }
  fitSections();
  if (phone.addEventListener) phone.addEventListener("change", fitSections);
  // A section opened by a tap: what loads "when revealed" (the history) loads now.
  document.addEventListener("toggle", function (event) {
    if (event.target.matches && event.target.matches("details.phone-section") && event.target.open) {
      window.dispatchEvent(new Event("scroll"));
    }
  }, true);
})();
