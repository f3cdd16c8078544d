/** An input that the user set wrong. The message always names the input and what was expected. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    expected: string,
    got?: string,
  ) {
    super(`Input '${input}': expected ${expected}${got === undefined ? '' : `, got '${got}'`}.`);
    this.name = 'InputError';
  }
}

/** Error text for logs: messages only, stacks behind ACTIONS_STEP_DEBUG. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
