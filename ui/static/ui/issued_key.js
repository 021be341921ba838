// A key shown once on the applications page: kept in this tab's sessionStorage (never on the
// server) so the endpoint pages' quickstart snippets can use it, and copied on request.
(function () {
  const stored = JSON.parse(document.getElementById("issued-key-storage").textContent);
  sessionStorage.setItem(stored.name, JSON.stringify(stored.value));
  // This page answers the POST that issued the key: make the history entry the applications
  // list, so reloading the page (or coming back to it) asks for the list instead of sending the
  // form again.
  const section = document.querySelector(".issued-key");
  history.replaceState(null, "", section.dataset.listUrl);

  const key = document.getElementById("issued-key");
  const button = document.getElementById("copy-key");
  const status = document.getElementById("copy-status");

  function select() {
    const range = document.createRange();
    range.selectNodeContents(key);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = button.dataset.select;
  }

  button.addEventListener("click", function () {
    if (!navigator.clipboard) return select(); // plain http, or an older browser
    navigator.clipboard.writeText(key.textContent).then(
      () => { status.textContent = button.dataset.copied; },
      select,
    );
  });
})();
