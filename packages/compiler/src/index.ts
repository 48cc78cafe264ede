/** @seg/compiler */
export {};
