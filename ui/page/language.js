// Runs before Gradio starts (ui/server/language.py puts it at the top of the page): presenter
// mode from the first paint, the cookie that tells the server the page's language, and the
// chosen language reported as the browser's, so Gradio renders it throughout.
(() => {
  try { if (localStorage.getItem(__PRESENTER_KEY__) === "on") document.documentElement.classList.add("presenter"); } catch (e) {}
  let locale = new URLSearchParams(location.search).get("lang");
  try { locale = locale || localStorage.getItem(__STORAGE_KEY__); } catch (e) {}
  const chosen = locale === "en" || locale === "zh-CN";
  let shown = chosen ? locale : navigator.language;
  const tell = () => {
    const lang = (shown || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
    document.cookie = `${__COOKIE__}=${lang}; path=/; max-age=31536000; SameSite=Lax`;
  };
  tell();
  new MutationObserver(() => { shown = document.documentElement.lang; tell(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  addEventListener("focus", tell);
  document.addEventListener("visibilitychange", () => document.hidden || tell());
  if (!chosen) return;
  for (const [name, value] of [["language", locale], ["languages", [locale]]])
    Object.defineProperty(navigator, name, { get: () => value, configurable: true });
})();
