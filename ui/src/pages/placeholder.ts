import { label, relabel } from "./common";
import type { Key } from "../i18n";

export function mountPlaceholder(root: HTMLElement, heading: Key): () => void {
  const id = root.id.replace("page-", "") + "-h";
  root.append(label(heading, "h2", { id, tabindex: "-1" }), label("not_built", "p", { class: "note" }));
  return () => relabel(root);
}
