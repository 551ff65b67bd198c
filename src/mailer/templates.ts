import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/** The project's `templates/` folder: operators edit these files to change what mails say. */
const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

/**
 * Renders the text templates of the relay's own mail. Text output, so no HTML escaping; every value
 * put in a template is data the relay controls or has validated, never a header.
 */
export class Templates {
  readonly #eta: Eta;

  constructor(directory: string = TEMPLATES_DIR) {
    this.#eta = new Eta({ views: directory, autoEscape: false, autoTrim: false, cache: true });
  }

  /** Renders `templates/<name>.eta`. */
  render(name: string, data: object): string {
    return this.#eta.render(`${name}.eta`, data);
  }
}
