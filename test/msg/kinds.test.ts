import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertNever,
  EGO_KINDS,
  isEgoKind,
  isPerceptionKind,
  KIND_OF_PAYLOAD,
  kindOfModality,
  MODALITY_OF_KIND,
  PERCEPTION_KINDS,
  SENSOR_KIND_NAMES,
  SENSOR_KINDS,
} from "../../src/msg/kinds.ts";
import { RULE_SUBJECTS } from "../../src/health/config.ts";
import { sensorKindSchema } from "../../src/rig/schema.ts";
import { PERCEPTION_MODALITIES } from "../../src/health/types.ts";
import { Modality } from "../../src/msg/types.ts";

test("registry: payload map and per-kind payload lists agree both ways", () => {
  for (const [payload, kind] of Object.entries(KIND_OF_PAYLOAD))
    assert.ok(
      (SENSOR_KINDS[kind].payloads as readonly string[]).includes(payload),
      `${payload} maps to ${kind} but ${kind} does not list it`,
    );
  for (const k of SENSOR_KIND_NAMES)
    for (const p of SENSOR_KINDS[k].payloads) assert.equal(KIND_OF_PAYLOAD[p], k, `${k} lists ${p}`);
});

test("registry: one modality per kind, none UNSPECIFIED, round trip by number", () => {
  const mods = SENSOR_KIND_NAMES.map((k) => MODALITY_OF_KIND[k]);
  assert.equal(new Set(mods).size, mods.length);
  assert.ok(!mods.includes(Modality.UNSPECIFIED));
  for (const k of SENSOR_KIND_NAMES) assert.equal(kindOfModality(MODALITY_OF_KIND[k]), k);
  assert.equal(kindOfModality(Modality.UNSPECIFIED), "?");
});

test("registry: roles partition the kinds; derived lists follow the registry", () => {
  assert.deepEqual([...PERCEPTION_KINDS, ...EGO_KINDS].sort(), [...SENSOR_KIND_NAMES].sort());
  for (const k of PERCEPTION_KINDS) assert.ok(isPerceptionKind(k) && !isEgoKind(k));
  for (const k of EGO_KINDS) assert.ok(isEgoKind(k) && !isPerceptionKind(k));
  assert.deepEqual([...PERCEPTION_MODALITIES], [...PERCEPTION_KINDS]);
  // The rig schema and the health rule subjects are built from the registry, not their own lists.
  assert.deepEqual(sensorKindSchema.options, SENSOR_KIND_NAMES);
  for (const k of SENSOR_KIND_NAMES) assert.ok((RULE_SUBJECTS as readonly string[]).includes(k));
  assert.throws(() => sensorKindSchema.parse("sonar"));
});

test("assertNever throws with the value it was given", () => {
  assert.throws(() => assertNever("sonar" as never, "sensor kind"), /unhandled sensor kind: "sonar"/);
});
