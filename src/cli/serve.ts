/** `fusion serve` — placeholder until the wiring lands. */
export async function serveCommand(_argv: string[]): Promise<number> {
  throw new Error("fusion serve: not implemented yet");
}
