// Unit tests: the log redactor against every field name the code logs. The field names are read
// from the source with the TypeScript parser (object literals passed to log.info/warn/error/debug/
// child and defaultMeta), so a new logged field whose name looks secret fails here until someone
// decides whether its value is a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { isSecretKey, redact } from '../../src/log.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const LOG_METHODS = new Set(['info', 'warn', 'error', 'debug', 'child']);

/** Field names whose values are secrets: these, and only these, must be redacted. */
const SECRET_FIELDS = new Set([
  'credentials',
  'secrets',
  'token',
  'sessionToken',
  'secretAccessKey',
  'password',
  'authorization',
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function objectKeys(obj: ts.ObjectLiteralExpression, into: Set<string>): void {
  for (const prop of obj.properties) {
    if (
      (ts.isPropertyAssignment(prop) || ts.isShorthandPropertyAssignment(prop)) &&
      (ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name))
    ) {
      into.add(prop.name.text);
    }
    if (ts.isPropertyAssignment(prop) && ts.isObjectLiteralExpression(prop.initializer))
      objectKeys(prop.initializer, into);
  }
}

/** Every field name the code hands to a logger. */
function loggedKeys(): Set<string> {
  const keys = new Set<string>();
  for (const file of [...sourceFiles(join(repoRoot, 'src')), ...sourceFiles(join(repoRoot, 'cmd'))]) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        LOG_METHODS.has(node.expression.name.text)
      ) {
        for (const arg of node.arguments) if (ts.isObjectLiteralExpression(arg)) objectKeys(arg, keys);
      }
      if (
        ts.isPropertyAssignment(node) &&
        ts.isIdentifier(node.name) &&
        node.name.text === 'defaultMeta' &&
        ts.isObjectLiteralExpression(node.initializer)
      ) {
        objectKeys(node.initializer, keys);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return keys;
}

test('every field the code logs is redacted exactly when its value is a secret', () => {
  const keys = loggedKeys();
  assert.ok(keys.size > 30, `found only ${keys.size} logged fields; is the scan still finding the log calls?`);
  assert.ok(keys.has('credentialSource'), 'the publish log line names its credential source');
  const wrong = [...keys].filter((k) => isSecretKey(k) !== SECRET_FIELDS.has(k));
  assert.deepEqual(
    wrong,
    [],
    `fields redacted wrongly (add to SECRET_FIELDS here or NOT_SECRET_KEYS in src/log.ts): ${wrong.join(', ')}`,
  );
});

test('the credential source and identity stay readable; secrets nested anywhere do not', () => {
  const out = redact({
    credentialSource: 'pod',
    credentialIdentity: 'sha256:abc',
    nested: { secrets: { AWS_SECRET_ACCESS_KEY: 'x' }, sessionToken: 'y' },
  }) as Record<string, unknown>;
  assert.equal(out.credentialSource, 'pod');
  assert.equal(out.credentialIdentity, 'sha256:abc');
  assert.deepEqual(out.nested, { secrets: '[REDACTED]', sessionToken: '[REDACTED]' });
});
