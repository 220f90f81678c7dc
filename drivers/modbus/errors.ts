// Error types of the Modbus driver's pure parts. Each says where (field path or register) and what.

/** A register map / driver option that cannot work. `field` is a path like `buses[0].devices[1].points[2].type`. */
export class ModbusConfigError extends Error {
  readonly problems: Array<{ field: string; message: string }>;
  constructor(problems: Array<{ field: string; message: string }>) {
    super(
      `invalid modbus config: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    );
    this.name = 'ModbusConfigError';
    this.problems = problems;
  }
}

/** Register contents that cannot be decoded as the map says (wrong word count, out-of-range word). */
export class ModbusDecodeError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ModbusDecodeError';
  }
}

/** An iot-edge-modbus config that cannot be read at all (not JSON, no SlaveConfigs). */
export class ModbusImportError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ModbusImportError';
  }
}
