// What validateConfig refuses in a config, as a list (empty when it is valid): for tests of the config's refusals.
import { ConfigError, validateConfig, type ConfigProblem } from '../../agent/config/load.js';
import { registry } from '../../drivers/registry.js';

export function configProblems(data: unknown): ConfigProblem[] {
  try {
    validateConfig(data, registry, 'test.yaml');
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}
