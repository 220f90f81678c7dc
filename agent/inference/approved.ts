// The model committed with this agent version (models/edge-model.onnx), approved by default. A retrained
// model is approved by changing this line (a test checks it matches the committed file) or in the config.
export const COMMITTED_MODEL = {
  sha256: '54cc82b50dd4b6e1230e78406f00820b3d5962e9aae7a9dcb7cd0e4bb5731de4',
  label: 'edge-alarm-gbt-5',
} as const;
