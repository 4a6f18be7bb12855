// Lint configuration: typescript-eslint recommended rules, no `any` in our code, and the import layers
// (no-restricted-imports per folder): src/fs (the FUSE file system) and src/csi (the CSI services) never
// import each other, src/dev (local MinIO for the demo and tests) is imported only by cmd/ and test/, and
// nothing under src/ imports cmd/ or test/. Formatting is Prettier's (.prettierrc.json, `npm run format:check`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/** A relative import that climbs out of the current folder into the top-level folder `name` of the same tree. */
const into = (name, message) => ({ regex: `^(\\.\\./)+(src/)?${name}(/|$)`, message });
const NOT_CMD_OR_TEST = into('(cmd|test)', 'src/ is the shipped code: it never imports cmd/ or test/.');
const NOT_DEV = into('dev', 'src/dev (local MinIO) is for cmd/ and test/ only, never for the shipped code.');
const layers = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  // src/csi/generated: made by scripts/gen-proto-types.sh (npm run gen:proto), checked by a unit test.
  {
    ignores: ['dist/**', 'node_modules/**', 'charts/**', 'deploy/**', '.bench/**', '.tools/**', 'src/csi/generated/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // Import layers. Later entries replace the rule for their folder, so each lists every pattern that applies.
  { files: ['src/**/*.ts'], rules: layers(NOT_CMD_OR_TEST, NOT_DEV) },
  { files: ['src/dev/**/*.ts'], rules: layers(NOT_CMD_OR_TEST) },
  {
    files: ['src/fs/**/*.ts'],
    rules: layers(NOT_CMD_OR_TEST, NOT_DEV, into('csi', 'src/fs (file system) never imports src/csi (CSI services).')),
  },
  {
    files: ['src/csi/**/*.ts'],
    rules: layers(NOT_CMD_OR_TEST, NOT_DEV, into('fs', 'src/csi (CSI services) never imports src/fs (file system).')),
  },
);
