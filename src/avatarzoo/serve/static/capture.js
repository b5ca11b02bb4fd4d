// AudioWorklet: hands the microphone's samples (at the context's rate) to the page.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch && ch.length) this.port.postMessage(ch.slice(0));
    return true;
  }
}
registerProcessor("avatarzoo-capture", Capture);
