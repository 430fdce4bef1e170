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
})();
