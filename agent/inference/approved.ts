// The model committed with this agent version (models/edge-model.onnx), approved by default. A retrained
// model is approved by changing this line (a test checks it matches the committed file) or in the config.
export const COMMITTED_MODEL = {
  sha256: 'f4c9d988f8700f3af2bdb3a4a9be9f7720d12c543bad81236f09e029c508523b',
  label: 'edge-alarm-gbt-1',
} as const;
