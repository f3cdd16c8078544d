/** The analysis of training runs shared by train-and-log (the reading) and alert-to-issue (the class verdict). */
export * from './compare.js';
export * from './reading.js';
export * from './render.js';
export * from './snapshot.js';
