// A number typed into a slider's box beyond its range: Gradio sets it to the nearest end when
// the box loses focus; this says so under the slider, in the page's language.
(() => {
  const say = __SAY__;  // {"en": "...{name} {low} {high} {value} {used}...", "zh-CN": "..."}
  const place = (input) => input.closest(".block") || input.parentElement;
  const clear = (input) => place(input).querySelectorAll(".range-notice").forEach((n) => n.remove());
  const check = (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "number") return;
    clear(input);
    const value = parseFloat(input.value), low = parseFloat(input.min), high = parseFloat(input.max);
    if (Number.isNaN(value) || !(value < low || value > high)) return;
    const lang = (document.documentElement.lang || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
    const label = (input.getAttribute("aria-label") || "").replace(/^number input for /, "");
    const notice = document.createElement("p");
    notice.className = "range-notice";
    notice.setAttribute("role", "status");
    notice.textContent = say[lang].replace("{name}", `“${label}”`).replace("{low}", low).replace("{high}", high)
      .replace("{value}", value).replace("{used}", value < low ? low : high);
    place(input).appendChild(notice);
  };
  document.addEventListener("blur", check, true);  // before the slider's own blur handler changes it
  document.addEventListener("keydown", (e) => e.key === "Enter" && check(e), true);
  const typing = (e) => e.target instanceof HTMLInputElement && e.target.type === "number" && clear(e.target);
  document.addEventListener("input", typing, true);
})();
