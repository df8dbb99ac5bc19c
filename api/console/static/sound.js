// The alarm sound: a generated two-tone WAV in a looping <audio> element. It plays while any
// open alarm of a sounding severity is listed and the guard has not muted it; muting lasts a
// while and is shown on screen. State for tests and styles: body[data-sounding], body[data-muted].

export const SOUNDING_SEVERITIES = new Set(["critical", "high"]);
export const MUTE_MINUTES = 5;

/** A mono 16-bit WAV: two beeps (880 Hz, 660 Hz) and a pause, about one second, as a data URI. */
export function beepWav(rate = 8000) {
  const tones = [[880, 0.25], [0, 0.05], [660, 0.25], [0, 0.45]];
  const samples = [];
  for (const [freq, seconds] of tones) {
    const n = Math.round(rate * seconds);
    for (let i = 0; i < n; i++) {
      const fade = Math.min(1, i / 80, (n - i) / 80);
      samples.push(freq ? Math.round(Math.sin((2 * Math.PI * freq * i) / rate) * 0.6 * fade * 32767) : 0);
    }
  }
  const buffer = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((c, i) => buffer.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  buffer.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVEfmt ");
  buffer.setUint32(16, 16, true);
  buffer.setUint16(20, 1, true); // PCM
  buffer.setUint16(22, 1, true); // mono
  buffer.setUint32(24, rate, true);
  buffer.setUint32(28, rate * 2, true);
  buffer.setUint16(32, 2, true);
  buffer.setUint16(34, 16, true);
  text(36, "data");
  buffer.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => buffer.setInt16(44 + i * 2, s, true));
  let binary = "";
  new Uint8Array(buffer.buffer).forEach((b) => { binary += String.fromCharCode(b); });
  return `data:audio/wav;base64,${btoa(binary)}`;
}

export class AlarmSound {
  constructor(audio, onChange) {
    this.audio = audio;
    this.audio.src = beepWav();
    this.audio.loop = true;
    this.onChange = onChange;
    this.wanted = false;
    this.mutedUntil = 0;
    this.blocked = false; // the browser refused to play without a user gesture
    this.unmuteTimer = null;
  }

  get muted() {
    return Date.now() < this.mutedUntil;
  }

  /** Whether an alarm should be sounding now (called on every list change). */
  want(on) {
    this.wanted = on;
    this.apply();
  }

  mute(minutes = MUTE_MINUTES) {
    this.mutedUntil = Date.now() + minutes * 60_000;
    clearTimeout(this.unmuteTimer);
    this.unmuteTimer = setTimeout(() => this.apply(), minutes * 60_000 + 50);
    this.apply();
  }

  unmute() {
    this.mutedUntil = 0;
    clearTimeout(this.unmuteTimer);
    this.apply();
  }

  apply() {
    const sounding = this.wanted && !this.muted;
    if (sounding && this.audio.paused) {
      this.audio.play().then(() => { this.blocked = false; this.report(); },
        () => { this.blocked = true; this.report(); });
    } else if (!sounding && !this.audio.paused) {
      this.audio.pause();
      this.audio.currentTime = 0;
    }
    this.report();
  }

  report() {
    document.body.dataset.sounding = String(this.wanted && !this.muted && !this.audio.paused);
    document.body.dataset.muted = String(this.muted);
    this.onChange();
  }
}
