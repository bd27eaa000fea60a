// Keyboard navigation between steps: j or the right arrow goes to the next step, k or the left arrow to the
// previous one. The report works without it; it is the only script, and it reads nothing outside the page.
(() => {
  const steps = [...document.querySelectorAll(".step")];
  const keys = { j: 1, ArrowRight: 1, k: -1, ArrowLeft: -1 };
  let current = steps.findIndex((s) => "#" + s.id === location.hash);
  const show = (i) => {
    current = Math.max(0, Math.min(steps.length - 1, i));
    steps[current].scrollIntoView({ block: "start" });
    steps[current].focus({ preventScroll: true });
  };
  // A click on a step makes it the current one, so the keys go on from where the reader is.
  steps.forEach((s, i) => s.addEventListener("click", () => { current = i; }));
  document.addEventListener("keydown", (e) => {
    const move = keys[e.key];
    if (!move || !steps.length || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.target.closest && e.target.closest("input, textarea, select, [contenteditable]")) return;
    e.preventDefault();
    show(current + move);
  });
})();
