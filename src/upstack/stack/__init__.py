"""The stack around Django: render server configurations (``render``, ``sizing``) and run them on
one machine (``runner``, ``services``). Pure rendering never touches the network or processes."""
