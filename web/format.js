// Dates, times and sizes as Japanese readers expect them: 12月3日(木) 14:05, with
// 今日 / 昨日 for recent days; times in the browser's time zone.

const WEEKDAYS = ["日", "月", "火", "水", "木", "金", "土"];

const pad = (n) => String(n).padStart(2, "0");

export function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

function dayDiff(d, now) {
  const a = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const b = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  return Math.round((b - a) / 86400000);
}

export function dayLabel(d, now = new Date()) {
  const diff = dayDiff(d, now);
  if (diff === 0) return "今日";
  if (diff === 1) return "昨日";
  const base = `${d.getMonth() + 1}月${d.getDate()}日(${WEEKDAYS[d.getDay()]})`;
  return d.getFullYear() === now.getFullYear() ? base : `${d.getFullYear()}年${base}`;
}

export function time(d) {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function dateTime(d, now = new Date()) {
  return `${dayLabel(d, now)} ${time(d)}`;
}

// For the room list: the time today, else the day.
export function shortWhen(d, now = new Date()) {
  return dayDiff(d, now) === 0 ? time(d) : dayLabel(d, now);
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
