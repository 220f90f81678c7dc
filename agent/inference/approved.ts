// The model committed with this agent version (models/edge-model.onnx), approved by default. A retrained
// model is approved by changing this line (a test checks it matches the committed file) or in the config.
export const COMMITTED_MODEL = {
  sha256: '6256c1cc4a87548cc75cd3eca2032554fe0e15197631367fa32376fa045b03a3',
  label: 'edge-alarm-gbt-3',
} as const;
