// Quickstart snippets on an endpoint page, filled in with an API key. A key is shown once, when
// it is issued; the applications page keeps it in this tab's sessionStorage (never on the server)
// so the snippets here can use it, and people can paste one in.
(function () {
  const script = document.currentScript;
  const endpoint = `${script.dataset.tenant}/${script.dataset.endpoint}`;
  const input = document.getElementById("quickstart-key");
  const snippets = document.querySelectorAll(".snippet[data-template]");

  function issuedKey() {
    for (let i = 0; i < sessionStorage.length; i++) {
      const name = sessionStorage.key(i);
      if (!name.startsWith("modelport-key:")) continue;
      const issued = JSON.parse(sessionStorage.getItem(name));
      if (issued.endpoints.includes(endpoint)) return issued.key;
    }
    return "";
  }

  function render() {
    const key = input.value.trim();
    for (const snippet of snippets) {
      const value = !key ? snippet.dataset.fallback : snippet.dataset.quote ? JSON.stringify(key) : key;
      snippet.textContent = snippet.dataset.template.replaceAll("__KEY__", value);
    }
  }

  input.value = issuedKey();
  input.addEventListener("input", render);
  render();
})();
