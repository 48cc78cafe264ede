/**
 * The reload loop of an in-memory copy of database rows (the server's segment catalog, its token
 * table): load once at start, again whenever the owner is told that the rows changed (a PostgreSQL
 * NOTIFY, delivered by the server's one LISTEN connection) and, in case a notification is lost,
 * every `refreshMs`. Concurrent reloads share one load; a reload asked for during a load causes
 * exactly one more load afterwards, so the last change is never missed. A failed load keeps the
 * previous copy in force and is reported to `onError`.
 */

/** Options of {@link NotifyReloader}. */
export interface NotifyReloaderOptions {
  /** Reload at least this often, in milliseconds. */
  refreshMs: number;
  /** Called when a load fails (the previous copy stays in force). */
  onError?: (e: unknown) => void;
}

/** Runs `load` at start, on {@link NotifyReloader.reload} (NOTIFY) and every `refreshMs`. */
export class NotifyReloader {
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;

  /** `load` reads the rows and installs them; it throws when it could not. */
  constructor(
    private readonly load: () => Promise<void>,
    private readonly options: NotifyReloaderOptions,
  ) {}

  /** Loads now, then every `refreshMs` (the timer does not keep the process alive). */
  async start(): Promise<void> {
    await this.reload();
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => void this.reload(), this.options.refreshMs);
    this.timer.unref();
  }

  /** Reloads now; resolves when the copy is current (never rejects: failures go to `onError`). */
  async reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        try {
          await this.load();
        } catch (e) {
          this.options.onError?.(e);
        }
      } while (this.again);
    })();
    try {
      await this.loading;
    } finally {
      this.loading = undefined;
    }
  }

  /** Stops the periodic reload. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
