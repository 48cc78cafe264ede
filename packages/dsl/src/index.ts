/** @seg/dsl */
export {};
