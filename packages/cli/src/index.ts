/** @seg/cli */
export {};
