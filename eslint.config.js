// Lint configuration: typescript-eslint recommended rules, no `any` in our code.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  // src/csi/generated: made by scripts/gen-proto-types.sh (npm run gen:proto), checked by a unit test.
  { ignores: ['dist/**', 'node_modules/**', 'charts/**', 'deploy/**', '.bench/**', 'src/csi/generated/**'] },
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
);
