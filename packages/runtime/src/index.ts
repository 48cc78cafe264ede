/** @seg/runtime */
export {};
