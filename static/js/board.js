// The board: drag cards between columns (SortableJS) and keep cards in the right column
// after a move by the select, a cancelled lost-reason form or a failed request. While a card
// is dragged, Won, Lost and To trash wait at the bottom of the screen. With a mouse the
// card's stage select folds into a menu (the "⋯" button, or Enter on the focused card).
// Everything works without this file: each card has a stage select in a plain form.
(function () {
  "use strict";

  // Where a card came from while its move is in flight or waits for a lost reason:
  // opportunity id -> {from: the column's card list, next: the card that followed it}.
  var origins = {};

  function listFor(stageId) {
    return document.querySelector('.board-cards[data-stage-id="' + stageId + '"]');
  }

  function sortKey(card) {
    return [card.dataset.close || "9999-12-31", parseInt(card.dataset.opportunityId, 10) || 0];
  }

  function insertSorted(list, card) {
    var key = sortKey(card);
    var cards = list.querySelectorAll(":scope > .board-card");
    for (var i = 0; i < cards.length; i++) {
      if (cards[i] === card) continue;
      var other = sortKey(cards[i]);
      if (other[0] > key[0] || (other[0] === key[0] && other[1] > key[1])) {
        list.insertBefore(card, cards[i]);
        return;
      }
    }
    list.appendChild(card);
  }

  // Put a card (or its lost-reason form) back where it was before the move.
  function putBack(card) {
    var id = card.dataset.opportunityId;
    var origin = origins[id];
    delete origins[id];
    if (origin && document.body.contains(origin.from)) {
      if (origin.next && origin.next.parentNode === origin.from && origin.next !== card) {
        origin.from.insertBefore(card, origin.next);
      } else {
        origin.from.appendChild(card);
      }
      return;
    }
    var home = listFor(card.dataset.homeStageId || card.dataset.stageId);
    if (home && card.parentNode !== home) insertSorted(home, card);
  }

  function flash(card) {
    card.classList.add("is-moved");
    setTimeout(function () { card.classList.remove("is-moved"); }, 1600);
  }

  function initSortable(root) {
    if (typeof Sortable === "undefined" || typeof htmx === "undefined") return;
    var lists = [];
    if (root.matches && root.matches(".board-cards")) lists.push(root);
    if (root.querySelectorAll) lists = lists.concat(Array.prototype.slice.call(root.querySelectorAll(".board-cards")));
    lists.forEach(function (list) {
      if (list.dataset.sortable === "on" || !list.closest(".board-columns")) return;
      list.dataset.sortable = "on";
      Sortable.create(list, {
        group: "board",
        sort: false,
        draggable: ".board-card[data-movable]",
        filter: "a, select, option, button, input, textarea, label",
        preventOnFilter: false,
        delay: 180,
        delayOnTouchOnly: true,
        animation: 150,
        ghostClass: "is-ghost",
        chosenClass: "is-chosen",
        dragClass: "is-dragging",
        onStart: dragStarted,
        onEnd: function (evt) {
          dragEnded();
          var card = evt.item;
          if (evt.to === evt.from) return;
          var next = evt.from.children[evt.oldIndex] || null;
          if (evt.to.hasAttribute("data-drop-trash")) {
            // To the trash: the card goes back and the deal's own confirmation page asks.
            putAt(card, evt.from, next);
            window.location.assign(deleteUrl(card));
            return;
          }
          var stageId = evt.to.dataset.dropStageId || evt.to.dataset.stageId;
          if (evt.to.hasAttribute("data-drop-stage-id")) {
            // A drop zone at the bottom: the same move as a drop on that stage's column.
            var list = listFor(stageId);
            if (!list || stageId === card.dataset.stageId) { putAt(card, evt.from, next); return; }
            insertSorted(list, card);
          }
          moveTo(card, stageId, evt.from, next);
        }
      });
    });
    initDrops(root);
  }

  // The move a column drop makes: the stage route with the card's version; the answer is
  // the card (or the lost-reason form) in its place.
  function moveTo(card, stageId, from, next) {
    origins[card.dataset.opportunityId] = {from: from, next: next};
    card.classList.add("is-saving");
    htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: card,
      swap: "outerHTML",
      // The version the card was shown with: a stale move is refused (409) and the
      // answer puts the card in its real column.
      values: {stage_id: stageId, context: "board", version: card.dataset.version || ""}
    });
  }

  function putAt(card, list, next) {
    if (next && next.parentNode === list && next !== card) list.insertBefore(card, next);
    else list.appendChild(card);
  }

  // POST /opportunities/<id>/stage and GET /opportunities/<id>/delete are stable URLs of
  // crm.opportunities side by side; the GET is the move-to-trash confirmation.
  function deleteUrl(card) {
    return card.dataset.moveUrl.replace(/\/stage$/, "/delete");
  }

  // The drop zones (Won, Lost, To trash) show while a card is dragged.
  function dragStarted() { document.documentElement.classList.add("board-dragging"); }
  function dragEnded() { document.documentElement.classList.remove("board-dragging"); }

  function initDrops(root) {
    if (!root.querySelectorAll) return;
    Array.prototype.forEach.call(root.querySelectorAll(".board-drop"), function (zone) {
      if (zone.dataset.sortable === "on") return;
      zone.dataset.sortable = "on";
      Sortable.create(zone, {group: {name: "board", pull: false, put: true}, sort: false,
                             draggable: ".board-card", ghostClass: "is-ghost"});
    });
  }

  // The stage menu on a card (shown as a menu with a mouse; board.css): the button, Enter on
  // the focused card, Escape to close.
  function openMenu(card, open) {
    var button = card.querySelector("[data-card-menu]");
    if (!button) return;
    if (open) {
      Array.prototype.forEach.call(document.querySelectorAll(".board-card.menu-open"), function (other) {
        if (other !== card) openMenu(other, false);
      });
    }
    card.classList.toggle("menu-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-card-menu]");
    if (!button) return;
    var card = button.closest(".board-card");
    var open = !card.classList.contains("menu-open");
    openMenu(card, open);
    if (open) card.querySelector("select[name=stage_id]").focus();
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.closest) return;
    if (event.key === "Enter" && target.matches(".board-card[data-movable]")) {
      event.preventDefault();
      openMenu(target, true);
      var select = target.querySelector("select[name=stage_id]");
      if (select) select.focus();
      return;
    }
    if (event.key === "Escape") {
      var card = target.closest(".board-card.menu-open");
      if (!card) return;
      openMenu(card, false);
      card.focus();
    }
  });

  // A card moved with its menu keeps the keyboard's focus in its new place.
  var focusAfterMove = null;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches(".card-move") && form.contains(document.activeElement)) {
      focusAfterMove = form.closest(".board-card").id;
    }
  });

  document.documentElement.classList.add("board-js");
  document.addEventListener("DOMContentLoaded", function () {
    initSortable(document);
  });

  // New content: columns after a filter change, cards after a move or "Load more".
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.matches) return;
    initSortable(elt);
    var cards = elt.matches(".board-card") ? [elt] : Array.prototype.slice.call(elt.querySelectorAll(".board-card"));
    cards.forEach(function (card) {
      // A card loaded by "Load more" that is already on the board (dragged there) stays single.
      var same = document.querySelectorAll('[id="' + card.id + '"]');
      if (same.length > 1) {
        for (var i = 0; i < same.length; i++) {
          if (same[i] !== card) { card.remove(); return; }
        }
      }
      if (card.classList.contains("lost-form")) {
        var select = card.querySelector("select");
        if (select) select.focus();
        return;
      }
      // Moved with the select: the card goes to the column of its new stage.
      var list = card.parentNode;
      if (list && list.classList && list.classList.contains("board-cards") &&
          list.dataset.stageId !== card.dataset.stageId) {
        var target = listFor(card.dataset.stageId);
        if (target) {
          insertSorted(target, card);
          card.scrollIntoView({block: "nearest", inline: "nearest"});
          flash(card);
        }
      }
      delete origins[card.dataset.opportunityId];
      if (focusAfterMove === card.id) {
        focusAfterMove = null;
        card.focus();
      }
    });
  });

  // Cancel on the lost-reason form: the card goes home before it is fetched again.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.matches && elt.matches("[data-board-cancel]")) {
      var form = elt.closest(".lost-form");
      if (form) putBack(form);
    }
  });

  // Escape on the lost-reason form cancels it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !event.target.closest) return;
    var form = event.target.closest(".lost-form");
    var cancel = form && form.querySelector("[data-board-cancel]");
    if (cancel) cancel.click();
  });

  // A refused or failed move: the card goes back (app.js or the server's crm:toast says why).
  // A move that answered with a card or the lost-reason form replaced the dragged element.
  function settle(event) {
    var elt = event.detail.elt;
    if (!elt || !elt.classList || !elt.classList.contains("board-card")) return;
    elt.classList.remove("is-saving");
    if (!document.body.contains(elt)) return;
    var xhr = event.detail.xhr;
    if (event.detail.failed || !xhr || xhr.status >= 400 || xhr.status === 0) putBack(elt);
  }
  document.addEventListener("htmx:afterRequest", settle);
  document.addEventListener("htmx:sendError", settle);
})();
