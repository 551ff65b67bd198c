/**
 * An XML element: local name (prefix dropped), child elements, and its decoded text. This reads the
 * small flat documents Puzzel exchanges, strictly: well-formed tags, the five predefined entities and
 * character references, comments, CDATA and processing instructions. A DOCTYPE (and so any custom
 * entity) is refused; attributes are checked for syntax and ignored; text mixed with child elements
 * is refused.
 */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  readonly text: string;
}

type OpenElement = { readonly name: string; readonly qualified: string; readonly children: XmlElement[]; text: string };

const XML_NAME = '[A-Za-z_][-A-Za-z0-9_.]*(?::[A-Za-z_][-A-Za-z0-9_.]*)?';
const OPEN_TAG = new RegExp(`<(${XML_NAME})((?:\\s+${XML_NAME}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
const CLOSE_TAG = new RegExp(`</(${XML_NAME})\\s*>`, 'y');
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));/y;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const MAX_XML_DEPTH = 8;

/** The document's root element, or why the text is not (acceptable) XML. */
export function parseXml(source: string): XmlElement | string {
  const stack: OpenElement[] = [];
  let root: XmlElement | undefined;
  let pos = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  const fail = (what: string) => `not well-formed XML at offset ${pos}: ${what}`;
  while (pos < source.length) {
    const open = stack.at(-1);
    if (source[pos] !== '<') {
      const end = source.indexOf('<', pos);
      const raw = source.slice(pos, end === -1 ? source.length : end);
      if (open === undefined) {
        if (raw.trim() !== '') return fail('text outside the root element');
      } else {
        const text = decodeXmlText(raw);
        if (text === undefined) return fail('a bare & or an unknown entity');
        open.text += text;
      }
      pos += raw.length;
      continue;
    }
    if (source.startsWith('<!--', pos)) {
      const end = source.indexOf('-->', pos + 4);
      if (end === -1) return fail('unterminated comment');
      pos = end + 3;
    } else if (source.startsWith('<![CDATA[', pos)) {
      const end = source.indexOf(']]>', pos + 9);
      if (open === undefined || end === -1) return fail('CDATA outside an element or unterminated');
      open.text += source.slice(pos + 9, end).replace(/\r\n?/g, '\n');
      pos = end + 3;
    } else if (source.startsWith('<?', pos)) {
      const end = source.indexOf('?>', pos + 2);
      if (end === -1) return fail('unterminated processing instruction');
      pos = end + 2;
    } else if (source.startsWith('<!', pos)) {
      return fail('DOCTYPE and declarations are not accepted');
    } else if (source.startsWith('</', pos)) {
      CLOSE_TAG.lastIndex = pos;
      const match = CLOSE_TAG.exec(source);
      if (match === null || open === undefined || match[1] !== open.qualified) return fail('end tag does not match');
      stack.pop();
      if (open.children.length > 0 && open.text.trim() !== '') return fail(`<${open.qualified}> mixes text and elements`);
      const element: XmlElement = { name: open.name, children: open.children, text: open.children.length > 0 ? '' : open.text };
      const parent = stack.at(-1);
      if (parent === undefined) root = element;
      else parent.children.push(element);
      pos = CLOSE_TAG.lastIndex;
    } else {
      OPEN_TAG.lastIndex = pos;
      const match = OPEN_TAG.exec(source);
      const qualified = match?.[1];
      if (match === null || qualified === undefined) return fail('malformed start tag');
      if (root !== undefined) return fail('a second root element');
      if (stack.length >= MAX_XML_DEPTH) return fail('nested too deeply');
      const name = qualified.slice(qualified.indexOf(':') + 1);
      if (match[3] === '/') {
        const element: XmlElement = { name, children: [], text: '' };
        if (open === undefined) root = element;
        else open.children.push(element);
      } else {
        stack.push({ name, qualified, children: [], text: '' });
      }
      pos = OPEN_TAG.lastIndex;
    }
  }
  if (stack.length > 0) return `not well-formed XML: <${stack.at(-1)?.qualified}> is not closed`;
  return root ?? 'not XML: no root element';
}

/** Line ends normalised as XML requires, then entity and character references decoded. */
function decodeXmlText(raw: string): string | undefined {
  const text = raw.replace(/\r\n?/g, '\n');
  let decoded = '';
  let pos = 0;
  for (let amp = text.indexOf('&'); amp !== -1; amp = text.indexOf('&', pos)) {
    ENTITY.lastIndex = amp;
    const match = ENTITY.exec(text);
    if (match === null) return undefined;
    const [, named, decimal, hex] = match;
    let char: string | undefined;
    if (named !== undefined) char = PREDEFINED[named];
    else {
      const codePoint = decimal !== undefined ? Number(decimal) : Number.parseInt(hex ?? '', 16);
      if (!isXmlChar(codePoint)) return undefined;
      char = String.fromCodePoint(codePoint);
    }
    decoded += text.slice(pos, amp) + char;
    pos = ENTITY.lastIndex;
  }
  return decoded + text.slice(pos);
}

function isXmlChar(codePoint: number): boolean {
  return (
    codePoint === 0x9 ||
    codePoint === 0xa ||
    codePoint === 0xd ||
    (codePoint >= 0x20 && codePoint <= 0xd7ff) ||
    (codePoint >= 0xe000 && codePoint <= 0xfffd) ||
    (codePoint >= 0x10000 && codePoint <= 0x10ffff)
  );
}

/** A container's leaf children as a field record (the first of a repeated name wins). */
export function xmlFields(element: XmlElement): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const child of element.children) {
    if (!Object.hasOwn(fields, child.name)) fields[child.name] = child.text;
  }
  return fields;
}
