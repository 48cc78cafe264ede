/** The version printed by `seg --version` and written into reports. */
export const VERSION = "0.1.0";
