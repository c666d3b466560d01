// Check HTML (stdin) against caniemail data with @jsx-email/doiuse-email; print its JSON.
// Usage: node doiuse.mjs NODE_MODULES_PARENT_DIR  (the folder holding node_modules/)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

const require = createRequire(join(process.argv[2], 'noop.js'));
const { doIUseEmail } = require('@jsx-email/doiuse-email');
const html = readFileSync(0, 'utf8');
const clients = ['gmail.*', 'outlook.*', 'apple-mail.*'];
process.stdout.write(JSON.stringify(doIUseEmail(html, { emailClients: clients })));
