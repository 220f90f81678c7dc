// The model committed with this agent version (models/edge-model.onnx), approved by default. A retrained
// model is approved by changing this line (a test checks it matches the committed file) or in the config.
export const COMMITTED_MODEL = {
  sha256: 'd7032b8249df7213d3499c77e0ae570d5e32d0a5294595f9837ce48a45427f39',
  label: 'edge-alarm-gbt-2',
} as const;
