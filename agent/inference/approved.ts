// The model committed with this agent version (models/edge-model.onnx), approved by default. A retrained
// model is approved by changing this line (a test checks it matches the committed file) or in the config.
export const COMMITTED_MODEL = {
  sha256: 'a9ed2c54cb36f9902f8db536059f6fa510e15f60232bbebf035d15b16b90a622',
  label: 'edge-alarm-gbt-4',
} as const;
