/** `fusion sim` — placeholder until the simulator lands (issue 3). */
export async function simCommand(_argv: string[]): Promise<number> {
  throw new Error("fusion sim: not implemented yet");
}
