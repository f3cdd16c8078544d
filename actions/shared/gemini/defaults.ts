/**
 * Defaults of the Gemini client that action.yml files also state (docs.test checks they agree),
 * so code that needs one takes it from here instead of writing it again.
 */
export const DEFAULT_MODEL = 'gemini-2.5-flash-lite';
