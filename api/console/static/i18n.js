// Every string of the console lives in i18n/<lang>.json (one file per language, same keys).
// zh-CN is the default; the choice is remembered in localStorage.

export const LANGUAGES = ["zh-CN", "en"];
const LANG_KEY = "estatewatch.lang";
let strings = {};
let current = "zh-CN";
const listeners = [];

export const language = () => current;

export function t(key, params = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** The string of `key`, or `fallback` where there is none (free text such as a plate colour). */
export function tOr(key, fallback) {
  return key in strings ? t(key) : fallback;
}

export function onLanguage(callback) {
  listeners.push(callback);
}

export async function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) lang = LANGUAGES[0];
  const response = await fetch(`/console/i18n/${lang}.json`);
  strings = await response.json();
  current = lang;
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang;
  translate(document);
  for (const callback of listeners) callback(lang);
}

export const initialLanguage = () => localStorage.getItem(LANG_KEY) || LANGUAGES[0];

/** Fill the static text of a subtree: data-i18n (text), -placeholder, -title, -aria-label. */
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
}

export function formatTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  const options = today ? { timeStyle: "medium" } : { dateStyle: "short", timeStyle: "medium" };
  return new Intl.DateTimeFormat(current, options).format(when);
}
