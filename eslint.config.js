// Lint config: typescript-eslint's recommended rules, plus the house rule of no `any`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'runs/', 'data/', 'bin/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // kafkajs's code is loaded only through src/transport/kafkajs.ts, which fixes its read_committed filter first.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: 'kafkajs', allowTypeImports: true, message: "import kafkajs from src/transport/kafkajs.ts (its read_committed fix must load first); `import type` from 'kafkajs' is fine" }] },
      ],
    },
  },
);
