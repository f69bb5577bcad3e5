/**
 * docker's formatter.Context: one place that turns rows (objects with docker's formatter fields) into a table,
 * a custom template, or JSON lines. Commands build rows; this renders them.
 *   "table"            → the command's default table format
 *   "table TEMPLATE"   → TEMPLATE with a header row, aligned in columns
 *   "json"             → {{json .}} per row
 *   anything else      → the template per row
 */
import { alignColumns, TABLE_OPTIONS } from './tabwriter';
import { compileTemplate, HEADER_FUNCS, TemplateExecError, TemplateParseError, goStruct } from './template';
import { UsageStatusError } from './errors';

export const TABLE_KEY = 'table';
export const JSON_KEY = 'json';
export const JSON_TEMPLATE = '{{json .}}';

export function isTableFormat(format: string): boolean {
  return format.startsWith(TABLE_KEY);
}

/** The template text inside a format string (formatter.Format.templateString). */
export function templateText(format: string): string {
  if (format === TABLE_KEY) return '';
  if (format === JSON_KEY) return JSON_TEMPLATE;
  let out = format.startsWith(TABLE_KEY) ? format.slice(TABLE_KEY.length) : format;
  out = out.replace(/^ +| +$/g, '');
  return out.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

/** A formatter row: a Go-struct-like object (unknown fields are errors) with JSON keys sorted as Go's map marshal. */
export function formatterRow(fields: Record<string, unknown>, typeName: string): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(fields).sort()) sorted[k] = fields[k];
  return goStruct(sorted, typeName, { escapeHtml: true });
}

/** Go's "template parsing error: ..." as docker reports both parse and execution failures of --format. */
export function templateError(err: unknown): Error {
  if (err instanceof TemplateParseError || err instanceof TemplateExecError) {
    return new UsageStatusError(1, `template parsing error: ${err.message}`);
  }
  return err as Error;
}

/**
 * Render rows with a resolved format (the caller maps "table" to its default table format first).
 * `header` maps field names to column titles, as docker's SubHeaderContext.
 */
export function renderRows(format: string, rows: unknown[], header: Record<string, string>): string {
  try {
    const tmpl = compileTemplate(templateText(format));
    let body = '';
    for (const row of rows) body += tmpl.execute(row) + '\n';
    if (!isTableFormat(format)) return body;
    const head = tmpl.execute(header, { funcs: HEADER_FUNCS });
    return alignColumns(head + '\n' + body, TABLE_OPTIONS);
  } catch (err) {
    throw templateError(err);
  }
}
