// Makes the hashes the display config stores (display.users[].passwordHash, display.tokens[].tokenHash).
//   npx tsx agent/http/hash-password.ts            asks for the password (not shown as typed) or reads the first line
//                                                  of a pipe; prints its hash
//   npx tsx agent/http/hash-password.ts --token    makes a random API token; prints the token (once) and its hash
// The password is never taken from the command line, where it would end up in the shell history and `ps`.
import { createInterface } from 'node:readline';
import { EXAMPLE_PASSWORD, hashPassword, hashToken, newToken } from './passwords.js';

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) return readHidden();
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

/** Typed at a terminal: not echoed (raw mode, the terminal shows nothing), Enter ends it, Ctrl-C gives up. */
function readHidden(): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the prompt: keys typed as soon as it shows must not be echoed either.
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  process.stderr.write('password (not shown): ');
  return new Promise((resolve) => {
    let typed = '';
    const done = (value: string | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (value === null) {
        process.stderr.write('cancelled\n');
        process.exit(130);
      }
      resolve(value);
    };
    // Inside a key's escape sequence (arrows, Home, Delete send ESC [ … final byte): not part of the password.
    let escape: 'none' | 'start' | 'csi' = 'none';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (escape === 'start') {
          escape = ch === '[' || ch === 'O' ? 'csi' : 'none';
          continue;
        }
        if (escape === 'csi') {
          if (ch >= '@' && ch <= '~') escape = 'none';
          continue;
        }
        if (ch === '\u001b') {
          escape = 'start';
          continue;
        }
        if (ch === '\r' || ch === '\n') return done(typed);
        if (ch === '\u0003' || ch === '\u0004') return done(ch === '\u0004' && typed ? typed : null); // Ctrl-C; Ctrl-D on an empty line
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(
      'usage: npx tsx agent/http/hash-password.ts          asks for a password (not shown) or reads a pipe\'s first line -> passwordHash\n' +
        '       npx tsx agent/http/hash-password.ts --token  a new API token and its tokenHash\n',
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
