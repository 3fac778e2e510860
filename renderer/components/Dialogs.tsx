/** Modal dialogs on the native <dialog> element: focus trap, Escape to close and a backdrop for free. */
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';

function useModal(open: boolean) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return ref;
}

export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useModal(props.open);
  const titleId = useId();
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      <div>{props.children}</div>
      <div className="row">
        <button type="button" onClick={props.onCancel} autoFocus>
          Cancel
        </button>
        <button
          type="button"
          className={props.danger ? 'danger primary' : 'primary'}
          onClick={props.onConfirm}
          disabled={props.busy}
        >
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** Asks for one line of text (rename, tags). */
export function TextDialog(props: {
  open: boolean;
  title: string;
  label: string;
  initial: string;
  help?: string;
  submitLabel: string;
  error?: string | null;
  busy?: boolean;
  onSubmit: (value: string) => void;
  onCancel: () => void;
}) {
  const ref = useModal(props.open);
  const titleId = useId();
  const inputId = useId();
  const [value, setValue] = useState(props.initial);
  useEffect(() => {
    if (props.open) setValue(props.initial);
  }, [props.open, props.initial]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          props.onSubmit(value);
        }}
      >
        <h2 id={titleId}>{props.title}</h2>
        <label htmlFor={inputId}>{props.label}</label>
        <input
          id={inputId}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-invalid={props.error ? true : undefined}
          aria-describedby={`${inputId}-help`}
          autoFocus
        />
        <div id={`${inputId}-help`} className="small muted">
          {props.error ? (
            <span className="form-error" role="alert">
              {props.error}
            </span>
          ) : (
            props.help
          )}
        </div>
        <div className="row">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={props.busy}>
            {props.submitLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
