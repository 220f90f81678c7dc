// Makes the hashes the display config stores (display.users[].passwordHash, display.tokens[].tokenHash).
//   npx tsx agent/http/hash-password.ts            reads a password from stdin (first line), prints its hash;
//                                                  e.g. `read -rs PW && printf '%s\n' "$PW" | npx tsx agent/http/hash-password.ts`
//   npx tsx agent/http/hash-password.ts --token    makes a random API token; prints the token (once) and its hash
// The password is never taken from the command line, where it would end up in the shell history and `ps`.
import { createInterface } from 'node:readline';
import { EXAMPLE_PASSWORD, hashPassword, hashToken, newToken } from './passwords.js';

async function readPassword(): Promise<string> {
  const tty = process.stdin.isTTY;
  if (tty) process.stderr.write('password (shown as typed; pipe it in to hide it): ');
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(
      'usage: npx tsx agent/http/hash-password.ts          password from stdin (first line) -> passwordHash\n' +
        '       npx tsx agent/http/hash-password.ts --token  a new API token and its tokenHash\n' +
        'Hide the password while typing: read -rs PW && printf \'%s\\n\' "$PW" | npx tsx agent/http/hash-password.ts\n',
    );
    return 0;
  }
  if (process.argv.includes('--token')) {
    const token = newToken();
    process.stdout.write(`token (give it to the client, it is not stored): ${token}\ntokenHash (for the config): ${hashToken(token)}\n`);
    return 0;
  }
  const password = await readPassword();
  if (password.length < 8) {
    process.stderr.write('refusing: a password needs at least 8 characters\n');
    return 2;
  }
  if (password === EXAMPLE_PASSWORD) {
    process.stderr.write('refusing: that is the examples\' published password (the agent refuses its hash)\n');
    return 2;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

main().then((code) => (process.exitCode = code));
