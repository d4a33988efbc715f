// Reads an email's HTML on stdin, prints the caniemail issues for the given client globs as JSON:
// {"errors": {client: [{"title", "support", "notes", "line", "column"}]}, "warnings": {...}}, where line and column
// (1-based) are where the flagged element's start tag begins.
import { readFileSync } from "node:fs";
import { caniemail } from "caniemail";

const clients = process.argv.slice(2);
const html = readFileSync(0, "utf8");
const { issues } = caniemail({ clients, html });
const flat = (map) =>
  Object.fromEntries(
    [...map].map(([client, list]) => [
      client,
      list.map(({ title, support, notes, position }) => ({
        title,
        support,
        notes,
        line: position?.start?.line ?? null,
        column: position?.start?.column ?? null,
      })),
    ]),
  );
process.stdout.write(JSON.stringify({ errors: flat(issues.errors), warnings: flat(issues.warnings) }));
