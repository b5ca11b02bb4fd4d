// avatarzoo live: microphone or clip -> 16 kHz PCM chunks over a WebSocket -> frames and
// their sound back, played in step (WebAudio clock); or camera -> JPEG pictures of a face
// -> the avatar reenacting them, drawn as they come (see ../protocol.py for the messages).
"use strict";
const SR = 16000;          // the protocol's sample rate
const CHUNK = 640;         // 40 ms of audio a message
const JITTER_S = 0.12;     // play-out delay that absorbs network and render jitter
const CAM_WIDTH = 320;     // pictures of the driver's face: plenty to track, small to send
const CAM_INFLIGHT = 2;    // pictures sent but not answered yet; the camera waits beyond
const $ = (id) => document.getElementById(id);
const az = (window.az = { frames: 0, received: 0, log: [], latencies: [], ready: null, closed: null, error: null });
const decoder = new TextDecoder();
let ws = null, ctx = null, base = null, queue = [], mic = null, clipTimer = null, pingTimer = null;
let pending = new Float32Array(0), sent = 0, sendTimes = [], drawnAt = [];
let cam = null, pictures = 0, answered = 0, pictureTimes = new Map();

function status(text) { $("status").textContent = text; }

async function loadAvatars() {
  const list = await (await fetch("avatars")).json();
  const sel = $("avatar");
  sel.innerHTML = "";
  for (const a of list) {
    const o = document.createElement("option");
    o.value = a.id;
    o.textContent = `${a.id} (${a.size}×${a.size}, ${a.fps} fps)`;
    sel.append(o);
  }
  az.avatars = list;
}

function audioContext() {
  if (!ctx) ctx = new AudioContext({ latencyHint: "interactive" });
  ctx.resume();
  return ctx;
}

function connected() { return ws && ws.readyState === WebSocket.OPEN && az.ready; }

function connect(drive = "speech") {
  return new Promise((resolve, reject) => {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    az.ready = null; az.closed = null; az.error = null; base = null; sent = 0; sendTimes = [];
    pictures = 0; answered = 0; pictureTimes = new Map();
    ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(JSON.stringify({ type: "start", avatar: $("avatar").value, format: "jpeg", quality: 90, drive }));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return onFrame(ev.data);
      const m = JSON.parse(ev.data);
      if (m.type === "ready") {
        az.ready = m;
        $("view").width = m.width; $("view").height = m.height;
        $("badge").textContent = "live"; $("badge").classList.add("live");
        pingTimer = setInterval(() => connected() && ws.send('{"type": "ping"}'), 10000);
        resolve(m);
      } else if (m.type === "error") {
        az.error = m;
        status(`server: ${m.reason} (${m.code})`);
      }
    };
    ws.onclose = (ev) => {
      az.closed = { code: ev.code, reason: ev.reason };
      $("badge").textContent = "not connected"; $("badge").classList.remove("live");
      clearInterval(pingTimer);
      stopInput();
      ws = null;
      setButtons(false);
      if (!az.error) status(`closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`);
      reject(new Error(`closed ${ev.code}`));
    };
  });
}

// --- sending -------------------------------------------------------------------------

function sendPcm(samples) {            // float32 at 16 kHz, any length
  const all = new Float32Array(pending.length + samples.length);
  all.set(pending); all.set(samples, pending.length);
  let i = 0;
  for (; i + CHUNK <= all.length; i += CHUNK) {
    if (!connected()) break;
    const s16 = new Int16Array(CHUNK);
    for (let j = 0; j < CHUNK; j++) s16[j] = Math.max(-1, Math.min(1, all[i + j])) * 32767;
    ws.send(s16.buffer);
    sendTimes.push([sent, performance.now()]);
    sent += CHUNK;
  }
  pending = all.slice(i);
  const old = performance.now() - 10000;
  while (sendTimes.length && sendTimes[0][1] < old) sendTimes.shift();
}

function sentAt(sample) {               // when the chunk holding `sample` was sent
  for (let i = sendTimes.length - 1; i >= 0; i--) {
    if (sendTimes[i][0] <= sample) return sample < sendTimes[i][0] + CHUNK ? sendTimes[i][1] : null;
  }
  return null;
}

function resampler(rate) {              // streaming: box filter, then pick at 16 kHz
  const r = rate / SR;
  let pos = 0, tail = new Float32Array(0);
  return (x) => {
    const buf = new Float32Array(tail.length + x.length);
    buf.set(tail); buf.set(x, tail.length);
    const half = Math.max(0, (r - 1) / 2), out = [];
    while (pos + half + 1 < buf.length) {
      if (r <= 1) {
        const k = Math.floor(pos), f = pos - k;
        out.push(buf[k] * (1 - f) + buf[k + 1] * f);
      } else {
        const lo = Math.max(0, Math.ceil(pos - half)), hi = Math.floor(pos + half);
        let s = 0;
        for (let k = lo; k <= hi; k++) s += buf[k];
        out.push(s / (hi - lo + 1));
      }
      pos += r;
    }
    const cut = Math.max(0, Math.floor(pos - half) - 1);
    tail = buf.slice(cut);
    pos -= cut;
    return Float32Array.from(out);
  };
}

async function startMic() {
  const c = audioContext();
  if (!connected()) await connect();
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
  });
  await c.audioWorklet.addModule("static/capture.js");
  const source = c.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(c, "avatarzoo-capture");
  const toSR = resampler(c.sampleRate);
  node.port.onmessage = (e) => sendPcm(toSR(e.data));
  const mute = c.createGain();
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(c.destination);   // pulled by the graph, heard by no one
  mic = { stream, node, source };
  setButtons(true);
  status("listening: speak, the avatar follows");
}

async function playClip(file) {
  const c = audioContext();
  if (!connected()) await connect();
  const decoded = await c.decodeAudioData(await file.arrayBuffer());
  const off = new OfflineAudioContext(1, Math.max(1, Math.ceil(decoded.duration * SR)), SR);
  const src = off.createBufferSource();
  src.buffer = decoded; src.connect(off.destination); src.start();
  const pcm = (await off.startRendering()).getChannelData(0);
  let i = 0;
  const t0 = performance.now();
  setButtons(true);
  status(`streaming ${file.name} (${decoded.duration.toFixed(1)} s) in real time`);
  clipTimer = setInterval(() => {     // real time: what has "played" by now, in 40 ms chunks
    const due = Math.min(pcm.length, Math.floor(((performance.now() - t0) / 1000) * SR) + CHUNK);
    if (due > i) { sendPcm(pcm.subarray(i, due)); i = due; }
    if (i >= pcm.length) { clearInterval(clipTimer); clipTimer = null; status(`${file.name} sent; the avatar idles`); }
  }, 20);
}

async function startCamera() {
  if (ws) { stop(); ws && ws.close(); await new Promise((r) => setTimeout(r, 50)); }
  await connect("video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
  } catch (e) {
    stop(); if (ws) ws.close();
    throw e;
  }
  const video = $("cam");
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const canvas = document.createElement("canvas");
  const fps = az.ready.fps;
  cam = { stream, timer: setInterval(() => sendPicture(video, canvas), 1000 / fps) };
  setButtons(true);
  status("camera: look at it with a neutral face for a second, then talk, blink, raise your brows, turn");
}

function sendPicture(video, canvas) {   // one JPEG of the camera's current picture, if the server keeps up
  if (!connected() || !video.videoWidth || pictures - answered >= CAM_INFLIGHT) return;
  canvas.width = CAM_WIDTH;
  canvas.height = Math.round((CAM_WIDTH * video.videoHeight) / video.videoWidth);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  const k = pictures++;
  canvas.toBlob(async (blob) => {
    if (!connected() || !blob) return;
    pictureTimes.set(k, performance.now());
    ws.send(await blob.arrayBuffer());
  }, "image/jpeg", 0.8);
}

function stopInput() {
  if (cam) { clearInterval(cam.timer); cam.stream.getTracks().forEach((t) => t.stop()); $("cam").srcObject = null; $("cam").hidden = true; cam = null; }
  if (mic) { mic.stream.getTracks().forEach((t) => t.stop()); mic.source.disconnect(); mic.node.disconnect(); mic = null; }
  if (clipTimer) { clearInterval(clipTimer); clipTimer = null; }
  pending = new Float32Array(0);
}

function stop() {
  stopInput();
  if (connected()) { ws.send('{"type": "stop"}'); }
  setButtons(false);
}

function setButtons(running) {
  $("stop").disabled = !running;
  $("mic").disabled = running;
  $("camera").disabled = running;
  $("clip").disabled = running;
}

// --- receiving and playing -----------------------------------------------------------

function onFrame(buf) {
  const n = new DataView(buf).getUint32(0);
  const h = JSON.parse(decoder.decode(new Uint8Array(buf, 4, n)));
  const a0 = 4 + n;
  az.received++;
  if (az.ready && az.ready.drive === "video") return onPictureFrame(buf, a0, h);
  const pcm = new Int16Array(buf.slice(a0, a0 + h.audio_bytes));
  if (h.source) {
    const t = sentAt(h.source[0]);
    if (t !== null) { az.latencies.push(performance.now() - t); if (az.latencies.length > 500) az.latencies.shift(); }
  }
  let e = 0;
  for (let i = 0; i < pcm.length; i++) e += pcm[i] * pcm[i];
  const rms = Math.sqrt(e / Math.max(1, pcm.length)) / 32768;
  const c = audioContext();
  const now = c.currentTime;
  if (base === null || base + h.audio_time < now + 0.005) base = now + JITTER_S - h.audio_time;  // (re)anchor
  if (pcm.length && $("sound").checked) {
    const b = c.createBuffer(1, pcm.length, SR);
    const ch = b.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const s = c.createBufferSource();
    s.buffer = b; s.connect(c.destination); s.start(base + h.audio_time);
  }
  const at = base + h.time;
  const image = new Blob([new Uint8Array(buf, a0 + h.audio_bytes, h.image_bytes)], { type: "image/jpeg" });
  createImageBitmap(image).then((bitmap) => {
    queue.push({ at, bitmap, h, rms });
    queue.sort((x, y) => x.at - y.at);
  });
}

function onPictureFrame(buf, a0, h) {   // reenactment: no sound, drawn as soon as it is decoded
  const k = h.source[0];
  answered = Math.max(answered, k + 1);  // pictures the server dropped are never answered
  const t = pictureTimes.get(k);
  if (t !== undefined) { az.latencies.push(performance.now() - t); if (az.latencies.length > 500) az.latencies.shift(); }
  for (const j of pictureTimes.keys()) if (j <= k) pictureTimes.delete(j);
  const image = new Blob([new Uint8Array(buf, a0 + h.audio_bytes, h.image_bytes)], { type: "image/jpeg" });
  createImageBitmap(image).then((bitmap) => {
    queue.push({ at: -Infinity, bitmap, h, rms: 0 });
    if (h.calibrating) status("camera: learning your neutral face…");
    else if (!h.face) status("camera: no face in the picture (the avatar holds its last pose)");
    else status("camera: the avatar follows your face");
  });
}

function draw() {
  if (queue.length && (ctx || queue[0].at === -Infinity)) {
    const now = ctx ? ctx.currentTime : 0;
    let k = -1;
    for (let i = 0; i < queue.length && queue[i].at <= now; i++) k = i;
    if (k >= 0) {
      const f = queue[k];
      const view = $("view");
      view.getContext("2d").drawImage(f.bitmap, 0, 0, view.width, view.height);
      for (let i = 0; i <= k; i++) queue[i].bitmap.close();
      queue.splice(0, k + 1);
      az.frames++;
      az.current = { index: f.h.index, time: f.h.time, activity: f.h.activity, rms: f.rms,
                     face: f.h.face, calibrating: f.h.calibrating };
      az.log.push(az.current);
      if (az.log.length > 3000) az.log.shift();
      const t = performance.now();
      drawnAt.push(t);
      while (drawnAt.length && drawnAt[0] < t - 1000) drawnAt.shift();
      $("s-frames").textContent = az.frames;
      $("s-fps").textContent = drawnAt.length;
      $("s-dropped").textContent = f.h.dropped;
      $("s-activity").value = f.h.activity;
      const l = az.latencies.slice(-50).sort((x, y) => x - y);
      if (l.length) $("s-latency").textContent = `${Math.round(l[l.length >> 1])} ms`;
    }
  }
  requestAnimationFrame(draw);
}

// a test hook: the picture drawn now, with what it shows
az.snapshot = () => ({ ...(az.current || {}), png: $("view").toDataURL("image/png") });

$("mic").onclick = () => startMic().catch((e) => status(`microphone: ${e.message}`));
$("camera").onclick = () => startCamera().catch((e) => status(`camera: ${e.message}`));
$("clip").onchange = (ev) => ev.target.files[0] && playClip(ev.target.files[0]).catch((e) => status(`clip: ${e.message}`));
$("stop").onclick = stop;
$("avatar").onchange = () => { if (ws) { stop(); ws && ws.close(); } };
loadAvatars().then(() => status("Pick an avatar, then speak, upload a clip, or use your camera.")).catch((e) => status(`avatars: ${e.message}`));
requestAnimationFrame(draw);
