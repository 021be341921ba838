// Forms with data-confirm ask before they are sent (destructive actions); the question is an
// attribute, so the page's policy needs no inline handler and a name in it stays text.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
