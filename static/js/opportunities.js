// Opportunity form and page helpers; every page also works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function stageSelect(root) { return (root || document).querySelector("[data-stage-select]"); }

  function stageKinds(select) {
    try { return JSON.parse(select.dataset.stageKinds || "{}"); } catch (e) { return {}; }
  }

  function stageProbabilities(select) {
    try { return JSON.parse(select.dataset.stageProbabilities || "{}"); } catch (e) { return {}; }
  }

  // The lost reason fields show only when the chosen stage is a lost stage.
  function syncLostFields() {
    var select = stageSelect();
    var box = document.querySelector("[data-lost-fields]");
    if (!select || !box) return;
    var kind = stageKinds(select)[select.value];
    box.classList.toggle("hidden", kind !== "lost");
  }

  // The probability input's placeholder says what the stage would give.
  function syncProbability() {
    var select = stageSelect();
    var input = document.querySelector("[data-probability-input]");
    if (!select || !input) return;
    var p = stageProbabilities(select)[select.value];
    if (p !== undefined && input.dataset.placeholderTemplate) {
      input.placeholder = input.dataset.placeholderTemplate.replace("__P__", p);
    }
  }

  // Only the chosen pipeline's stages are offered.
  function syncPipeline(keepValue) {
    var pipeline = document.querySelector("[data-pipeline-select]");
    var select = stageSelect();
    if (!pipeline || !select) return;
    var groups = select.querySelectorAll("optgroup");
    if (!groups.length) return;
    var label = pipeline.options[pipeline.selectedIndex] ? pipeline.options[pipeline.selectedIndex].text : "";
    var firstEnabled = null;
    var currentOk = false;
    groups.forEach(function (group) {
      var on = group.label === label;
      group.hidden = !on;
      group.disabled = !on;
      if (on) {
        firstEnabled = group.querySelector("option");
        group.querySelectorAll("option").forEach(function (o) { if (o.value === select.value) currentOk = true; });
      }
    });
    if ((!keepValue || !currentOk) && firstEnabled) select.value = firstEnabled.value;
  }

  function init() {
    syncPipeline(true);
    syncLostFields();
    syncProbability();
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-pipeline-select]")) { syncPipeline(false); syncLostFields(); syncProbability(); }
    if (el.matches && el.matches("[data-stage-select]")) { syncLostFields(); syncProbability(); }
  });

  // Competitor rows: remove one; the add button asks the server for a row with the next index.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-remove-row]");
    if (!button) return;
    var row = button.closest("[data-competitor-row]");
    if (!row) return;
    var rows = document.querySelectorAll("[data-competitor-row]");
    if (rows.length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    }
  });
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.matches && elt.matches("[data-add-competitor]")) {
      var indexes = Array.prototype.map.call(
        document.querySelectorAll("[data-competitor-row] input[name$='-name']"),
        function (input) { return parseInt(input.name.split("-")[1], 10) || 0; });
      var next = indexes.length ? Math.max.apply(null, indexes) + 1 : 0;
      event.detail.parameters["index"] = String(next);
    }
  });

  // A chosen customer from the search results: keep only it in view.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches || !el.matches("#customer-picker input[name='customer_id']")) return;
    var label = el.closest("label");
    var picker = document.getElementById("customer-picker");
    var chosen = picker.querySelector(".choice.chosen");
    if (label && !label.classList.contains("chosen")) {
      if (chosen) chosen.remove();
      label.classList.add("chosen");
      picker.insertBefore(label, picker.querySelector(".picker-search"));
      var results = document.getElementById("customer-results");
      if (results) results.innerHTML = "";
      var q = document.getElementById("customer_q");
      if (q) q.value = "";
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
