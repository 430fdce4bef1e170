// Tags page: with JavaScript, colours save on change and previews load on choice,
// so the buttons that do it without JavaScript step aside.
(function () {
  "use strict";
  document.documentElement.classList.add("tags-js");
})();
