/** A one-line progress bar on stderr (only when stderr is a terminal, or when forced). */
export class ProgressBar {
  private lastDraw = 0;
  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly enabled = process.stderr.isTTY === true,
  ) {}

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100 && done < this.total) return;
    this.lastDraw = now;
    const width = 30;
    const ratio = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const filled = Math.round(ratio * width);
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor(ratio * 100)
        .toString()
        .padStart(3)}% ${done}/${this.total}`,
    );
  }

  done(): void {
    if (this.enabled) {
      this.update(this.total, true);
      process.stderr.write('\n');
    }
  }
}
